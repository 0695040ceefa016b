# Where `cmake --install` puts radsync: the places a Debian package uses (the unit expects
# /usr/bin/radsync, so the prefix defaults to /usr rather than CMake's /usr/local).
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
    set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix (the package's)" FORCE)
endif()
include(GNUInstallDirs)
find_program(GZIP gzip REQUIRED)

# System paths systemd reads no matter what the prefix is; the package installs under /usr.
set(RADSYNC_UNIT_DIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
set(RADSYNC_SYSUSERS_DIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
set(RADSYNC_TMPFILES_DIR "${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d")
set(RADSYNC_DOC_DIR "${CMAKE_INSTALL_DATADIR}/doc/radsync")
set(RADSYNC_SHARE_DIR "${CMAKE_INSTALL_DATADIR}/radsync")

install(TARGETS radsync RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(FILES systemd/radsync.service DESTINATION "${RADSYNC_UNIT_DIR}")
install(FILES systemd/radsync.sysusers.conf DESTINATION "${RADSYNC_SYSUSERS_DIR}"
        RENAME radsync.conf)
install(FILES systemd/radsync.tmpfiles.conf DESTINATION "${RADSYNC_TMPFILES_DIR}"
        RENAME radsync.conf)

# The configuration the package ships (conffiles, 0644: secrets live in their own files under
# /etc/radsync/secrets, never in these): the commented examples, which do not pass
# check-config until the operator fills them in, so the service is not started before that.
install(FILES config/radsync.example.yaml DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/radsync"
        RENAME radsync.yaml)
install(FILES config/mapping.example.yaml DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/radsync"
        RENAME mapping.yaml)

install(FILES config/radsync.example.yaml config/mapping.example.yaml config/reference.md
        DESTINATION "${RADSYNC_DOC_DIR}/examples")
install(FILES README.md deploy/debian/copyright DESTINATION "${RADSYNC_DOC_DIR}")
# Debian wants a changelog in every package (a native one: changelog.gz).
set(changelog_gz "${CMAKE_CURRENT_BINARY_DIR}/changelog.gz")
add_custom_command(
    OUTPUT "${changelog_gz}"
    COMMAND "${GZIP}" -n -9 -c "${PROJECT_SOURCE_DIR}/deploy/debian/changelog" > "${changelog_gz}"
    DEPENDS "${PROJECT_SOURCE_DIR}/deploy/debian/changelog"
    COMMENT "changelog.gz")
add_custom_target(radsync_changelog ALL DEPENDS "${changelog_gz}")
install(FILES "${changelog_gz}" DESTINATION "${RADSYNC_DOC_DIR}")

install(PROGRAMS deploy/freeradius/configure-freeradius
        DESTINATION "${RADSYNC_SHARE_DIR}/freeradius")
install(FILES deploy/freeradius/README.md DESTINATION "${RADSYNC_DOC_DIR}/freeradius")
install(FILES deploy/prometheus/alerts.yml DESTINATION "${RADSYNC_SHARE_DIR}/prometheus")

# radsync(1) from the program's own --help (help2man), so the page cannot drift from the
# options; the exit codes, files and environment come from deploy/radsync.h2m. gzip -n: no
# timestamp in the archive, so the package is reproducible.
find_program(HELP2MAN help2man)
if(HELP2MAN)
    set(man_page "${CMAKE_CURRENT_BINARY_DIR}/radsync.1")
    add_custom_command(
        OUTPUT "${man_page}.gz"
        COMMAND "${HELP2MAN}" --no-info --section=1 --source=radsync --help-option=--help-all
                "--version-string=${PROJECT_VERSION}"
                "--name=keep FreeRADIUS WiFi accounts in step with OfficeRnD"
                "--include=${PROJECT_SOURCE_DIR}/deploy/radsync.h2m" --output=${man_page}
                $<TARGET_FILE:radsync>
        COMMAND "${GZIP}" -n -9 -f "${man_page}"
        DEPENDS radsync "${PROJECT_SOURCE_DIR}/deploy/radsync.h2m"
        COMMENT "radsync.1 (help2man)"
        VERBATIM)
    add_custom_target(radsync_man ALL DEPENDS "${man_page}.gz")
    install(FILES "${man_page}.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
else()
    message(STATUS "help2man not found: no man page (scripts/setup installs it)")
endif()
