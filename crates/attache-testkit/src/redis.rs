//! Redis test servers (in progress).
