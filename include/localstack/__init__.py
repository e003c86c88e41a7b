"""Start and stop the local emulators (dev and CI tooling; not used in the gcp profile)."""
