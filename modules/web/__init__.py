"""HTTP checks: a URL answers as expected, a login form lets a user in."""
