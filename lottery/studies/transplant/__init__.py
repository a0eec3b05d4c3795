"""Mask transplant: does a winning ticket's mask carry the ticket without its own init?"""
