//! The profile parser on arbitrary bytes: it never panics, and whatever it
//! accepts it writes back as text that parses to the same profile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wg_wrap::conf::{self, Conf};
use wg_wrap::profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = conf::read_text(data, "fuzz.conf") else {
        return;
    };
    let _ = profile::redact(&text);
    if let Ok(parsed) = Conf::parse(&text, "fuzz.conf") {
        let again = Conf::parse(&parsed.conf.to_wg_quick(), "again.conf")
            .expect("a written profile parses");
        assert_eq!(again.conf, parsed.conf);
    }
});
