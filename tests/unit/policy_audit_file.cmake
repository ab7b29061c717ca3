# The audit file sink on a real file system (issue 15 §6): a symbolic link at the audit path
# is refused, a plain file is appended to.
km_unit_test(NAME policy_audit_file
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_audit_file_test.cpp
             LIBS km_policy
             LABELS policy)
