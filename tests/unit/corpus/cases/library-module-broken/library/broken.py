"""Test module that does not even parse."""

def oops(:
    pass
