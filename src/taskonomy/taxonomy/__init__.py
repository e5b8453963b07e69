"""Taxonomy: the supervision-budget BIP, transfer policies, the published 2018 results."""
