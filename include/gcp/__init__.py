"""The one place that knows the profile, every name, and how to reach Google Cloud.

Everything else asks this package for settings, clients, table names and bucket paths, so the
`local` and `gcp` profiles differ only in configuration.
"""
