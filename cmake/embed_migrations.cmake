# Compiles migrations/{radius,state,accounting}/NNNN_*.sql into the binary, so a deployed radsync never
# depends on a directory of SQL files lying next to it and its schema versions cannot drift
# from its code.
function(radsync_embed_migrations out_var)
    file(GLOB radius_files CONFIGURE_DEPENDS
         "${PROJECT_SOURCE_DIR}/migrations/radius/[0-9][0-9][0-9][0-9]_*.sql")
    file(GLOB state_files CONFIGURE_DEPENDS
         "${PROJECT_SOURCE_DIR}/migrations/state/[0-9][0-9][0-9][0-9]_*.sql")
    file(GLOB accounting_files CONFIGURE_DEPENDS
         "${PROJECT_SOURCE_DIR}/migrations/accounting/[0-9][0-9][0-9][0-9]_*.sql")
    list(SORT radius_files)
    list(SORT state_files)
    list(SORT accounting_files)
    set(out "${CMAKE_CURRENT_BINARY_DIR}/embedded_migrations.cpp")
    add_custom_command(
        OUTPUT "${out}"
        COMMAND "${CMAKE_COMMAND}" -DOUT=${out} "-DRADIUS_FILES=${radius_files}"
                "-DSTATE_FILES=${state_files}" "-DACCOUNTING_FILES=${accounting_files}"
                -P "${PROJECT_SOURCE_DIR}/cmake/generate_migrations.cmake"
        DEPENDS ${radius_files} ${state_files} ${accounting_files} "${PROJECT_SOURCE_DIR}/cmake/generate_migrations.cmake"
        COMMENT "Embedding migrations"
        VERBATIM)
    set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
