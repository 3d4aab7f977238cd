"""Letters and notifiers as values, their business rules, and the decisions of the agency interface."""
