"""One module per study: its configuration per profile, the source's reported figures, its experiments."""
