//! The status socket on arbitrary bytes: the engine's request parser
//! answers every request without panicking (only `get=1` and an empty line
//! is a query), and the client's parser of a reply never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wg_wrap::live::status::{self, Request};

fuzz_target!(|data: &[u8]| {
    match status::parse_request(data) {
        Ok(Request::Get) => assert_eq!(data, b"get=1\n\n"),
        // EINVAL or EPERM.
        Err(errno) => assert!(matches!(errno, 22 | 1), "errno {errno}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = status::parse(text);
    }
});
