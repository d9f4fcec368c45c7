"""The small core every stage may use: errors with file:line:col, the frozen model, secret masking."""
