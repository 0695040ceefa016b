# `cpack -G DEB` (scripts/package): a Debian package of what cmake/install.cmake lays out.
set(CPACK_PACKAGE_NAME radsync)
set(CPACK_PACKAGE_VENDOR "radsync developers")
set(CPACK_PACKAGE_CONTACT "radsync developers <radsync@radsync.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keeps FreeRADIUS Wi-Fi accounts in step with OfficeRnD")
set(CPACK_PACKAGE_DESCRIPTION
    "radsync receives OfficeRnD's signed webhooks and polls its API, maps
\
plans to access groups and locations to VLANs, and writes RADIUS user
\
records into an SQLite database that FreeRADIUS reads: members online
\
when they join, offline when they leave, day passes and meeting-room
\
guests served without staff.")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# The Debian changelog names the version too: a release bumps both, or the build says so.
file(STRINGS "${PROJECT_SOURCE_DIR}/deploy/debian/changelog" changelog_head LIMIT_COUNT 1)
if(NOT changelog_head MATCHES "^radsync \\(${PROJECT_VERSION}\\)")
    message(FATAL_ERROR "deploy/debian/changelog starts with '${changelog_head}', not version "
                        "${PROJECT_VERSION}: add its entry")
endif()
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_FILE_NAME "radsync_${PROJECT_VERSION}_amd64")

set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://radsync.example/")
# Library dependencies from the binary itself (dpkg-shlibdeps), the rest by name:
# systemd-sysusers and systemd-tmpfiles in the maintainer scripts, debconf for the purge
# question, freeradius-common because it creates FreeRADIUS's user freerad, which radsync's
# sysusers entry adds to group radsync (sysusers would otherwise create a freerad of its own).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "systemd (>= 247), init-system-helpers (>= 1.54), debconf (>= 0.5) | debconf-2.0, freeradius-common")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "freeradius (>= 3.2), freeradius-utils")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(debian_dir "${PROJECT_SOURCE_DIR}/deploy/debian")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${debian_dir}/conffiles;${debian_dir}/postinst;${debian_dir}/prerm;${debian_dir}/postrm;${debian_dir}/templates;${debian_dir}/config")
set(CPACK_GENERATOR DEB)
include(CPack)
