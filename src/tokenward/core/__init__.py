"""The I/O-free core: header grammar, tokens, digests, IP lists, ACLs, policy, responses."""
