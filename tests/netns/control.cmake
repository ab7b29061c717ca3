# keymeshd's control socket under clients that hog it (idle, trickling): the CLI and a CNI ADD
# still answer within a second; every hog is closed by the deadline and counted.
km_netns_test(NAME netns_control_socket SCRIPT ${CMAKE_CURRENT_LIST_DIR}/control_socket.sh
              LABELS cni TIMEOUT 120)
