# fish completion for wg-wrap and its applets, printed by
# `wg-wrap --completions fish`: the candidates come from the binary itself.
function __wg_wrap_complete
    set -l words (commandline -opc) (commandline -ct)
    set words[1] (string replace -r '.*/' '' -- $words[1])
    for line in (wg-wrap --complete -- $words 2>/dev/null)
        switch $line
            case :commands
                __fish_complete_command
            case :dirs
                __fish_complete_directories (commandline -ct)
            case :files
                __fish_complete_path (commandline -ct)
            case ':files=*'
                __fish_complete_suffix (string replace ':files=' '' -- $line)
            case '*'
                echo $line
        end
    end
end
for applet in wg-wrap wg-unshare wg-up wg-exec wg-pin wg-profile
    complete -c $applet -f -a '(__wg_wrap_complete)'
end
