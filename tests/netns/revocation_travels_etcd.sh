#!/usr/bin/env bash
# revocation_travels_etcd.sh - revocation_travels.sh with etcd discovery instead of a lighthouse.
exec bash "$(dirname "$0")/revocation_travels.sh" etcd
