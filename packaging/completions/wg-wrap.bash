# bash completion for wg-wrap and its applets.
# Options come from each applet's own --help, profile names from
# `wg-profile list` and pin names from `wg-pin --list`, so nothing here drifts.

_wg_wrap_options() { # APPLET: the options its --help lists (not those its prose names)
    "$1" --help 2>/dev/null | grep -E '^  -' | grep -oE -- '(^|[ ,])--?[a-z][a-z-]*' | tr -d ' ,' | sort -u
}
_wg_wrap_profiles() { wg-wrap profile list 2>/dev/null; }
_wg_wrap_pins() { wg-wrap pin --list 2>/dev/null | grep -v ' stale ' | cut -d' ' -f1; }

_wg_wrap() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local applet=${COMP_WORDS[0]##*/} words i positional=0
    COMPREPLY=()
    # `wg-wrap APPLET ...` completes as that applet.
    if [ "$applet" = wg-wrap ] && [ "$COMP_CWORD" -ge 2 ]; then
        case ${COMP_WORDS[1]} in
            profile|unshare|up|exec|pin) applet=wg-${COMP_WORDS[1]}; positional=1 ;;
        esac
    fi
    case $prev in
        --join|--remove) COMPREPLY=($(compgen -W "$(_wg_wrap_pins)" -- "$cur")); return ;;
        --install) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --man) COMPREPLY=($(compgen -W "$(wg-wrap --list 2>/dev/null)" -- "$cur")); return ;;
        --pin|--handshake-timeout|--publish) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_wg_wrap_options "$applet")" -- "$cur"))
        return
    fi
    # The first word that is not an option (nor an option's value); after
    # `--`, or after --join NAME, the words are PROG's.
    local joining=0 pinning=0 prog=0
    for ((i = 1 + positional; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --) prog=1; break ;;
            --join) joining=1; ((i++)) ;;
            --pin) pinning=1; ((i++)) ;;
            --handshake-timeout|--publish|--install|--man|--remove) ((i++)) ;;
            -*) ;;
            *) break ;;
        esac
    done
    local first=$((i == COMP_CWORD))
    case $applet in
        wg-wrap)
            if ((prog || joining)); then
                COMPREPLY=($(compgen -c -- "$cur"))
            elif ((first && pinning)); then
                COMPREPLY=($(compgen -W "$(_wg_wrap_profiles)" -- "$cur") $(compgen -f -X '!*.conf' -- "$cur"))
            elif ((first)); then
                words="$(_wg_wrap_profiles) status doctor profile unshare up exec pin"
                COMPREPLY=($(compgen -W "$words" -- "$cur") $(compgen -f -X '!*.conf' -- "$cur"))
            elif [ "${COMP_WORDS[i]}" = status ] && ((COMP_CWORD == i + 1)); then
                COMPREPLY=($(compgen -W "$(_wg_wrap_pins) $(_wg_wrap_profiles)" -- "$cur"))
            else
                COMPREPLY=($(compgen -c -- "$cur"))
            fi ;;
        wg-unshare)
            if ((first)); then
                COMPREPLY=($(compgen -W "$(_wg_wrap_profiles)" -- "$cur") $(compgen -f -X '!*.conf' -- "$cur"))
            else
                COMPREPLY=($(compgen -W "wg-up" -- "$cur"))
            fi ;;
        wg-up) COMPREPLY=($(compgen -W "wg-exec wg-pin" -- "$cur")) ;;
        wg-pin) ((first)) || COMPREPLY=($(compgen -W "wg-exec" -- "$cur")) ;;
        wg-exec) COMPREPLY=($(compgen -c -- "$cur")) ;;
        wg-profile)
            if ((first)); then
                COMPREPLY=($(compgen -W "import list show edit remove path genkey pubkey" -- "$cur"))
            else
                case ${COMP_WORDS[i]} in
                    show|edit|remove|path) COMPREPLY=($(compgen -W "$(_wg_wrap_profiles)" -- "$cur")) ;;
                    import) COMPREPLY=($(compgen -f -- "$cur")) ;;
                esac
            fi ;;
    esac
}
complete -F _wg_wrap wg-wrap wg-unshare wg-up wg-exec wg-pin wg-profile
