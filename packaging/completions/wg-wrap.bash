# bash completion for wg-wrap and its applets, printed by
# `wg-wrap --completions bash`: the candidates come from the binary itself.
_wg_wrap() {
    local cur=${COMP_WORDS[COMP_CWORD]} line
    local words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    words[0]=${words[0]##*/}
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
            :commands) COMPREPLY+=($(compgen -c -- "$cur")) ;;
            :dirs) COMPREPLY+=($(compgen -d -- "$cur")) ;;
            :files) COMPREPLY+=($(compgen -f -- "$cur")) ;;
            :files=*) COMPREPLY+=($(compgen -f -X "!*${line#:files=}" -- "$cur")) ;;
            *) COMPREPLY+=("$line") ;;
        esac
    done < <(wg-wrap --complete -- "${words[@]}" 2>/dev/null)
}
complete -F _wg_wrap wg-wrap wg-unshare wg-up wg-exec wg-pin wg-profile
