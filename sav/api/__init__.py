"""The Sanic HTTP API."""
