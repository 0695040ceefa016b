# Warnings apply to radsync's own targets only; third-party headers come from /usr/include and
# are treated as system headers by the compiler, so they never break the build.
function(radsync_warnings target)
    if(NOT RADSYNC_DEVELOPER_MODE)
        return()
    endif()
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wcast-qual -Wformat=2
        -Wundef -Wunused -Wimplicit-fallthrough -Wextra-semi -Woverloaded-virtual
        -Wnon-virtual-dtor -Wold-style-cast -Werror)
endfunction()
