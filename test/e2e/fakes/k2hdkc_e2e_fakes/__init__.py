"""Fakes of nova, cinder, glance, neutron and keystone for the e2e Trove control plane."""
