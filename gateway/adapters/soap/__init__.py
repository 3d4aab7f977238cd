"""Spyne, and only here: typed models of the contract, dispatch of one checked element."""
