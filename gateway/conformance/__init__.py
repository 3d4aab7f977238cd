"""The conformance kit: numbered test plans any e-CMS node or e-Saraban vendor runs themselves.

``plan.py`` defines a case and runs a plan; ``node_plan*.py`` holds the agency-interface plan
(A-cases), ``peer_plan.py`` the node-port plan (B-cases), ``client_plan.py`` the e-Saraban client
plan (C-cases); ``reports.py`` writes the terminal, JUnit, HTML and signed JSON reports. The
cases are data: the CLI (``gateway conformance``), the tests and the benchmark import the same
objects (docs/conformance.md).
"""
