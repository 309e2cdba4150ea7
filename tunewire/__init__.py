"""The `tunewire` command line: a thin layer over shared/ and infra/."""
