"""Local stand-ins for the services the project talks to, run on loopback."""
