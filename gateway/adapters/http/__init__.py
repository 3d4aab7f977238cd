"""The WSGI application: routes, request bodies under limits, what the transport says about the caller."""
