# fish completion for wg-wrap and its applets.
function __wg_wrap_profiles; wg-wrap profile list 2>/dev/null; end
function __wg_wrap_pins; wg-wrap pin --list 2>/dev/null | string match -v '* stale *' | string split -f1 ' '; end

# Where the word being completed stands: "first" (PROFILE or a command),
# "profile" (after --pin NAME), "prog" (after --, after --join NAME, or
# after PROFILE), "status" (after the status command), or "".
function __wg_wrap_place
    set -l words (commandline -opc)
    set -e words[1]
    set -l pinning 0
    set -l skip 0
    set -l seen
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --
                echo prog; return
            case --join
                echo prog; return
            case --pin
                set pinning 1; set skip 1
            case --handshake-timeout --publish --install --man
                set skip 1
            case '-*'
            case '*'
                set -a seen $w
        end
    end
    if test (count $seen) = 0
        if test $pinning = 1; echo profile; else; echo first; end
    else if test "$seen[1]" = status; and test (count $seen) = 1
        echo status
    else
        echo prog
    end
end
complete -c wg-wrap -n 'test (__wg_wrap_place) = first' -f -a '(__wg_wrap_profiles)' -d profile
complete -c wg-wrap -n 'test (__wg_wrap_place) = first' -f -a 'status doctor profile unshare up exec pin'
complete -c wg-wrap -n 'test (__wg_wrap_place) = profile' -f -a '(__wg_wrap_profiles)' -d profile
complete -c wg-wrap -n 'test (__wg_wrap_place) = status' -f -a '(__wg_wrap_pins) (__wg_wrap_profiles)'
complete -c wg-wrap -n 'test (__wg_wrap_place) = prog' -f -a '(__fish_complete_command)'
complete -c wg-wrap -l pin -r -d 'keep the namespace, pinned as NAME'
complete -c wg-wrap -l join -x -a '(__wg_wrap_pins)' -d 'run PROG in pinned namespace NAME'
complete -c wg-wrap -l map-root -d 'be uid 0 inside'
complete -c wg-wrap -l host-session-bus -d "the host's session bus, unfiltered"
complete -c wg-wrap -l publish -x -d 'publish [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp]'
complete -c wg-wrap -l handshake-timeout -x -d 'seconds to wait for the first handshake'
complete -c wg-wrap -s q -l quiet -d 'print nothing but errors'
complete -c wg-wrap -s v -l verbose -d 'tell what is being done'
complete -c wg-wrap -l install -x -a '(__fish_complete_directories)' -d 'symlink every applet into DIR'
complete -c wg-wrap -l list -d "print the applets' names"
complete -c wg-wrap -l man -x -a '(wg-wrap --list)' -d 'print the man page of APPLET'
complete -c wg-wrap -l help -d 'display usage information'
complete -c wg-wrap -l version -d 'display version information'

complete -c wg-unshare -n '__fish_is_first_arg' -a '(__wg_wrap_profiles)' -d profile
complete -c wg-unshare -l map-root -d 'be uid 0 inside'
complete -c wg-unshare -l host-session-bus -d "the host's session bus, unfiltered"
complete -c wg-unshare -l publish -x -d 'publish [HOSTADDR:]HOSTPORT:PORT[/tcp|/udp]'
complete -c wg-up -l handshake-timeout -x -d 'seconds to wait for the first handshake'
complete -c wg-up -a 'wg-exec wg-pin'
complete -c wg-exec -l join -x -a '(__wg_wrap_pins)' -d 'enter pinned namespace NAME first'
complete -c wg-pin -l list -d 'list the pinned namespaces'
complete -c wg-pin -l json -d 'with --list: JSON'
complete -c wg-pin -l remove -x -a '(__wg_wrap_pins)' -d 'end pinned namespace NAME'

complete -c wg-profile -n '__fish_is_first_arg' -x -a 'import list show edit remove path genkey pubkey'
complete -c wg-profile -n '__fish_seen_subcommand_from show edit remove path' -x -a '(__wg_wrap_profiles)'
complete -c wg-profile -n '__fish_seen_subcommand_from import' -s f -l force -d 'replace a profile of the same name'
complete -c wg-profile -n '__fish_seen_subcommand_from list' -s l -l long -d 'endpoints and addresses too'
for c in wg-wrap wg-unshare wg-up wg-exec wg-pin wg-profile
    complete -c $c -l help -d 'display usage information'
    complete -c $c -l version -d 'display version information'
end
