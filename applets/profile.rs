//! wg-profile: the profile store.

use crate::man::{FILES, TOOL_EXIT, Extra};
use argh::{ArgsInfo, FromArgs};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use wg_wrap::conf::{self, Conf, SecretKey};
use wg_wrap::profile::{self, Store};
use wg_wrap::{Error, log};

/// Manage WireGuard profiles (wg-quick .conf files) stored in
/// $XDG_CONFIG_HOME/wg-wrap/profiles (default ~/.config/wg-wrap/profiles).
#[derive(FromArgs, ArgsInfo)]
pub struct Args {
    #[argh(subcommand)]
    command: Command_,
}

#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand)]
enum Command_ {
    Import(Import),
    List(List),
    Show(Show),
    Edit(Edit),
    Remove(Remove),
    Path(PathOf),
    Genkey(Genkey),
    Pubkey(Pubkey),
}

/// Print a new random private key in base64, as `wg genkey` does (redirect it into a 0600 file).
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "genkey")]
struct Genkey {}

/// Read a private key on standard input and print its public key, as `wg pubkey` does.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "pubkey")]
struct Pubkey {}

/// Check FILE (- for standard input) and store it as NAME (default: FILE's name without .conf).
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "import")]
struct Import {
    /// replace a profile of the same name
    #[argh(switch, short = 'f')]
    force: bool,
    /// the .conf file, or - for standard input
    #[argh(positional, arg_name = "FILE")]
    file: String,
    /// the profile's name
    #[argh(positional, arg_name = "NAME")]
    name: Option<String>,
}

/// Print the stored profiles' names, one a line.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "list")]
struct List {
    /// also print each profile's endpoints and addresses
    #[argh(switch, short = 'l')]
    long: bool,
}

/// Print profile NAME with its private and preshared keys hidden.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "show")]
struct Show {
    /// the profile's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

/// Edit profile NAME with $VISUAL or $EDITOR; an invalid result is refused and the old profile kept.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "edit")]
struct Edit {
    /// the profile's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

/// Delete profile NAME.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "remove")]
struct Remove {
    /// the profile's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

/// Print the path of profile NAME's file.
#[derive(FromArgs, ArgsInfo)]
#[argh(subcommand, name = "path")]
struct PathOf {
    /// the profile's name
    #[argh(positional, arg_name = "NAME")]
    name: String,
}

use crate::cli::STDIN;


pub const MAN: Extra = Extra {
    name: "manage the WireGuard profiles wg-wrap uses",
    synopsis: "wg-profile import FILE|- [NAME] [--force]\nwg-profile list [--long]\nwg-profile show|edit|remove|path NAME\nwg-profile genkey\nwg-profile pubkey",
    exit: TOOL_EXIT,
    environment: "VISUAL or EDITOR (edit). XDG_CONFIG_HOME or HOME locate the profiles.",
    files: FILES,
    examples: "wg-profile import ~/Downloads/work.conf\nwg-profile import - home < home.conf\nwg-profile list --long\nwg-profile show work\nwg-profile edit work",
};

pub fn main(_name: &str, opts: Args, _args: &[OsString]) -> Result<u8, Error> {
    match opts.command {
        Command_::Genkey(_) => {
            let key = SecretKey::generate().map_err(|e| Error::sys("generate a key", e))?;
            wg_wrap::outln!("{}", key.to_base64());
            return Ok(0);
        }
        Command_::Pubkey(_) => {
            let text = conf::read_text(std::io::stdin().lock().take(1024), "standard input")?;
            let key = SecretKey::parse(text.trim())
                .map_err(|p| Error::new(format!("standard input: private key {p}")).hint(conf::KEY_HINT))?;
            wg_wrap::outln!("{}", key.public_key());
            return Ok(0);
        }
        _ => {}
    }
    let store = Store::from_env()?;
    match opts.command {
        Command_::Genkey(_) | Command_::Pubkey(_) => {}
        Command_::Import(import) => import_profile(&store, import)?,
        Command_::List(list) => list_profiles(&store, list.long)?,
        Command_::Show(show) => {
            let text = store.read(&show.name)?;
            wg_wrap::log::out(profile::redact(&text));
        }
        Command_::Edit(edit) => edit_profile(&store, &edit.name)?,
        Command_::Remove(remove) => store.remove(&remove.name)?,
        Command_::Path(path) => {
            store.read(&path.name)?;
            wg_wrap::outln!("{}", store.path(&path.name).display());
        }
    }
    Ok(0)
}

fn import_profile(store: &Store, import: Import) -> Result<(), Error> {
    let name = match (&import.name, import.file.as_str()) {
        (Some(name), _) => name.clone(),
        (None, STDIN) => {
            return Err(Error::new("cannot import from standard input without a NAME")
                .hint("try 'wg-profile import - NAME'"));
        }
        (None, file) => {
            let base = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            base.strip_suffix(".conf").unwrap_or(&base).to_string()
        }
    };
    profile::check_name(&name, &crate::reserved_names()).map_err(|e| match &import.name {
        Some(_) => e,
        // The user never typed this name: say where it came from.
        None => Error::new(format!(
            "the file name \"{name}\" is not a valid profile name"
        ))
        .hint(format!(
            "give one: `wg-profile import {} NAME` (letters, digits, '.', '_' and '-')",
            shell_quote(&import.file)
        )),
    })?;
    let (text, source) = if import.file == STDIN {
        let text = conf::read_text(std::io::stdin().lock(), "standard input")?;
        (text, "standard input".to_string())
    } else {
        (conf::read_file(Path::new(&import.file))?, import.file.clone())
    };
    let parsed = Conf::parse(&text, &source)?;
    for warning in &parsed.warnings {
        log::warn(warning);
    }
    let path = store.write(&name, &text, import.force)?;
    log::info(format_args!("imported \"{name}\" into {}", path.display()));
    Ok(())
}

fn list_profiles(store: &Store, long: bool) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    for name in store.list()? {
        let line = if long {
            let summary = store
                .read(&name)
                .and_then(|text| Conf::parse(&text, &format!("{name}.conf")))
                .map(|parsed| summary(&parsed.conf))
                .unwrap_or_else(|e| format!("(invalid: {e})"));
            format!("{name}\t{summary}")
        } else {
            name
        };
        if writeln!(out, "{line}").is_err() {
            break; // a closed pipe (`| head`) ends the listing quietly
        }
    }
    Ok(())
}

/// `ENDPOINT[,ENDPOINT]\tADDRESS[,ADDRESS]` for `list --long`.
fn summary(conf: &Conf) -> String {
    let endpoints: Vec<String> = conf
        .peers
        .iter()
        .map(|p| p.endpoint.as_ref().map_or("-".to_string(), ToString::to_string))
        .collect();
    let addresses: Vec<String> = conf.interface.addresses.iter().map(ToString::to_string).collect();
    format!("{}\t{}", endpoints.join(","), addresses.join(","))
}

/// Edits a copy (0600, in the store), checks it, then replaces the profile atomically.
fn edit_profile(store: &Store, name: &str) -> Result<(), Error> {
    let old = store.read(name)?;
    let copy = store.dir().join(format!(".{name}.edit-{}.conf", std::process::id()));
    wg_wrap::files::write_atomic(&copy, old.as_bytes(), wg_wrap::files::Durability::Durable)?;
    let edited = run_editor(&copy).and_then(|()| conf::read_file(&copy));
    let _ = std::fs::remove_file(&copy);
    let new = edited?;
    if new == old {
        log::info(format_args!("\"{name}\" unchanged"));
        return Ok(());
    }
    let parsed = Conf::parse(&new, &format!("{name}.conf")).map_err(|e| {
        Error::new(format!("edit refused, \"{name}\" kept as it was: {e}"))
    })?;
    for warning in &parsed.warnings {
        log::warn(warning);
    }
    store.write(name, &new, true)?;
    Ok(())
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi` on `file`, through the shell as git does.
fn run_editor(file: &Path) -> Result<(), Error> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|e| !e.is_empty())
        .unwrap_or_else(|| "vi".into());
    let shown = editor.to_string_lossy().into_owned();
    let mut script = editor;
    script.push(" \"$@\"");
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .arg(&shown)
        .arg(file)
        .status()
        .map_err(|e| Error::sys(format_args!("run editor \"{shown}\""), e))?;
    if !status.success() {
        return Err(Error::new(format!(
            "editor \"{shown}\" failed ({status}); profile unchanged"
        ))
        .hint("set VISUAL or EDITOR to a working editor"));
    }
    Ok(())
}

/// `text` quoted for a shell command line when it needs it.
fn shell_quote(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"./_-+:@".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
