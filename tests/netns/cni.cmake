# keymesh-cni against the real kernel (root, namespaces the script creates), with a fake
# keymeshd (cni_fake_daemon) answering the workload requests. Also chains Debian's portmap
# and bandwidth plugins after it (skipped, with a message, when /usr/lib/cni lacks them).
add_executable(cni_fake_daemon ${CMAKE_CURRENT_LIST_DIR}/cni_fake_daemon.cpp)
target_link_libraries(cni_fake_daemon PRIVATE km_control)
set_target_properties(cni_fake_daemon PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME netns_cni_plugin SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cni_plugin.sh
              LABELS cni TIMEOUT 240)
# keymesh-cni with the real keymeshd on two hosts: workload identities from the node CA,
# same-host and cross-host policy, restart, DEL, 20 parallel ADD/DEL.
km_netns_test(NAME netns_cni_daemon SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cni_daemon.sh
              LABELS cni TIMEOUT 120)
# Real runtimes (label runtime): podman 4.3 with its CNI backend, containerd 1.6's CRI plugin
# driven by our CRI client. Each keeps its config private to the test; the setups are in
# tests/runtimes (README.md there).
km_netns_test(NAME netns_cni_podman SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cni_podman.sh
              LABELS cni runtime TIMEOUT 120)
km_netns_test(NAME netns_cni_containerd SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cni_containerd.sh
              LABELS cni runtime TIMEOUT 120)
# keymesh-cni when keymeshd is starting, down, or killed mid-ADD (60 parallel ADDs, kill -9,
# restart, retries), and GC with nothing to collect.
km_netns_test(NAME netns_cni_crash SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cni_crash.sh
              LABELS cni TIMEOUT 240)
# The edge filter with the real keymeshd: fail closed across kill -9 and restart, no spoofing
# from a pod (rp_filter 2 and 0) or from the underlay, pod -> host refused unless granted.
km_netns_test(NAME netns_cni_failclosed SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cni_failclosed.sh
              LABELS cni TIMEOUT 200)
