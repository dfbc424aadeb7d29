"""Serving the views to a team: access and roles (``auth``) and user text shown safely (``display``)."""
