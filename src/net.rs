//! Socket options Pingora does not expose.

/// Hold back partial segments on a TCP socket (`on`) or send what is held (`off`), so a
/// request head and body written separately leave as one segment. Best effort: a socket that
/// is not TCP (or an invalid descriptor) just keeps its normal behaviour. Descriptor 0 is
/// left alone too: Pingora reports 0 as the id of a stream that is no socket (a subrequest's,
/// a test double's); a real socket there (stdin closed at start) only loses the optimisation.
fn cork(fd: i32, on: bool) {
    if fd <= 0 {
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

/// A socket corked (see `cork`) until this is dropped: what is written meanwhile leaves
/// together, at the drop (or when a full segment is ready, or after the kernel's 200 ms).
pub struct Corked(i32);

impl Corked {
    pub fn new(fd: i32) -> Self {
        cork(fd, true);
        Corked(fd)
    }

    /// `new` on the socket of a Pingora stream (of either side); none: nothing is corked.
    pub fn on(stream: Option<&pingora::protocols::Stream>) -> Self {
        Corked::new(stream.map_or(-1, |s| s.id()))
    }
}

impl Drop for Corked {
    fn drop(&mut self) {
        cork(self.0, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn corked(fd: i32) -> bool {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into a valid pointer to a local.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        value != 0
    }

    #[test]
    fn a_socket_is_corked_while_the_guard_lives() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = stream.as_raw_fd();
        assert!(!corked(fd));
        let guard = Corked::new(fd);
        assert!(corked(fd));
        drop(guard);
        assert!(!corked(fd));
    }
}
