"""Stage 3, validate: static checks of the finished plan that need no host (templates, variables, platforms)."""
