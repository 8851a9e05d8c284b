//! Socket options Pingora does not expose.

/// Hold back partial segments on a TCP socket (`on`) or send what is held (`off`), so a
/// request head and body written separately leave as one segment. Best effort: a socket that
/// is not TCP (or an invalid descriptor) just keeps its normal behaviour.
pub fn cork(fd: i32, on: bool) {
    if fd < 0 {
        return;
    }
    let value: libc::c_int = i32::from(on);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid pointer to a local; an
    // invalid descriptor makes it fail with EBADF, which is ignored.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
