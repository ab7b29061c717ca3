# keymeshd's Docker network + IPAM driver against a real dockerd (docker.io) in a namespace
# the test creates, with a busybox image built from busybox-static.
km_netns_test(NAME netns_docker_driver SCRIPT ${CMAKE_CURRENT_LIST_DIR}/docker_driver.sh
              LABELS docker runtime TIMEOUT 150)
