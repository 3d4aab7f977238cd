"""The fixed stages of each port, pure: agency in, node in, outbound (build -> validate -> sign last), answer."""
