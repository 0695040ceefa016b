# Compiles migrations/NNNN_*.sql into the binary, so a deployed radsync never depends on a
# directory of SQL files lying next to it and its schema version cannot drift from its code.
function(radsync_embed_migrations out_var)
    file(GLOB sql_files CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/migrations/[0-9][0-9][0-9][0-9]_*.sql")
    list(SORT sql_files)
    set(out "${CMAKE_CURRENT_BINARY_DIR}/embedded_migrations.cpp")
    add_custom_command(
        OUTPUT "${out}"
        COMMAND "${CMAKE_COMMAND}" -DOUT=${out} "-DFILES=${sql_files}"
                -P "${PROJECT_SOURCE_DIR}/cmake/generate_migrations.cmake"
        DEPENDS ${sql_files} "${PROJECT_SOURCE_DIR}/cmake/generate_migrations.cmake"
        COMMENT "Embedding ${CMAKE_CURRENT_LIST_DIR} migrations"
        VERBATIM)
    set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
