#!/usr/bin/env bash
# The etcd variant of node_ca_one_node.sh (a second host claiming the same node CA is
# refused through etcd's create-if-absent claim key).
exec bash "$(dirname "$0")/node_ca_one_node.sh" etcd
