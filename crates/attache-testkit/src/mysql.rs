//! MariaDB test servers (in progress).
