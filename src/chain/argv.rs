//! The chain `wg-wrap` executes, built from its options: pure, so it is
//! tested here and read back by [`Tail::parse`](super::links::Tail::parse).

use std::ffi::OsString;

/// What `wg-wrap [options] PROFILE -- PROG` asks for.
#[derive(Debug, Default)]
pub struct Wrap {
    pub profile: OsString,
    pub map_root: bool,
    pub host_session_bus: bool,
    pub publish: Vec<String>,
    pub handshake_timeout: Option<u64>,
    pub pin: Option<String>,
    pub prog: Vec<OsString>,
}

impl Wrap {
    /// `wg-unshare [...] PROFILE wg-up [...] [wg-pin NAME] wg-exec -- PROG...`
    pub fn argv(&self) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec!["wg-unshare".into()];
        if self.map_root {
            argv.push("--map-root".into());
        }
        if self.host_session_bus {
            argv.push("--host-session-bus".into());
        }
        for spec in &self.publish {
            argv.extend(["--publish".into(), spec.into()]);
        }
        argv.extend([self.profile.clone(), "wg-up".into()]);
        if let Some(seconds) = self.handshake_timeout {
            argv.extend(["--handshake-timeout".into(), seconds.to_string().into()]);
        }
        if let Some(name) = &self.pin {
            argv.extend(["wg-pin".into(), name.into()]);
        }
        argv.extend(["wg-exec".into(), "--".into()]);
        argv.extend(self.prog.iter().cloned());
        argv
    }
}

/// `wg-exec --join NAME -- PROG...`
pub fn join(name: &str, prog: &[OsString]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["wg-exec".into(), "--join".into(), name.into(), "--".into()];
    argv.extend(prog.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::super::links::Tail;
    use super::*;

    fn strings(argv: &[OsString]) -> Vec<&str> {
        argv.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn the_plain_chain() {
        let wrap = Wrap {
            profile: "work".into(),
            prog: vec!["curl".into(), "-v".into()],
            ..Wrap::default()
        };
        assert_eq!(
            strings(&wrap.argv()),
            ["wg-unshare", "work", "wg-up", "wg-exec", "--", "curl", "-v"]
        );
    }

    #[test]
    fn every_option_lands_in_its_link_and_reads_back() {
        let wrap = Wrap {
            profile: "work".into(),
            map_root: true,
            host_session_bus: true,
            publish: vec!["8080:80".into(), "53:53/udp".into()],
            handshake_timeout: Some(0),
            pin: Some("dl".into()),
            prog: vec!["wg-pin".into(), "--".into()],
        };
        let argv = wrap.argv();
        assert_eq!(
            strings(&argv),
            [
                "wg-unshare",
                "--map-root",
                "--host-session-bus",
                "--publish",
                "8080:80",
                "--publish",
                "53:53/udp",
                "work",
                "wg-up",
                "--handshake-timeout",
                "0",
                "wg-pin",
                "dl",
                "wg-exec",
                "--",
                "wg-pin",
                "--",
            ]
        );
        let tail = Tail::parse(&argv).unwrap();
        assert_eq!(tail.operand("wg-pin"), Some(&OsString::from("dl")));
        assert_eq!(&argv[tail.prog_at..], &wrap.prog[..]);
    }

    #[test]
    fn join_puts_prog_after_dashes() {
        assert_eq!(
            strings(&join("dl", &["-x".into()])),
            ["wg-exec", "--join", "dl", "--", "-x"]
        );
    }
}
