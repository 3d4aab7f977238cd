"""Protocol edges, each the only importer of its driver: HTTP/WSGI, Spyne, zeep, the e-Saraban client, the clock."""
