# bash completion for redressctl. Everything is read from the program's own command table
# (`redressctl --commands`: one "VERB<TAB>USAGE" line per command), so a new command or option
# completes without editing this file.
_redressctl_table() {
    "${COMP_WORDS[0]}" --commands 2>/dev/null
}

_redressctl() {
    local cur prev i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local table
    table=$(_redressctl_table) || return 0

    # Skip the global options to find where the command words start.
    i=1
    while [ "$i" -lt "$COMP_CWORD" ]; do
        case ${COMP_WORDS[i]} in
        -c | --config) i=$((i + 2)) ;;
        -*) i=$((i + 1)) ;;
        *) break ;;
        esac
    done
    case $prev in
    -c | --config | -o | --dir)
        COMPREPLY=($(compgen -f -- "$cur"))
        return 0
        ;;
    esac
    if [ "$i" -ge "$COMP_CWORD" ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-c --config --json --help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(cut -f1 <<<"$table" | cut -d' ' -f1 | sort -u)" -- "$cur"))
        fi
        return 0
    fi
    local first=${COMP_WORDS[i]} verb usage
    if [ $((i + 1)) -eq "$COMP_CWORD" ] && grep -q "^$first " <<<"$table"; then
        COMPREPLY=($(compgen -W "$(grep "^$first " <<<"$table" | cut -f1 | cut -d' ' -f2)" -- "$cur"))
        return 0
    fi
    verb=$first
    grep -q "^$first ${COMP_WORDS[i+1]}	" <<<"$table" && verb="$first ${COMP_WORDS[i+1]}"
    usage=$(grep "^$verb	" <<<"$table" | cut -f2)
    [ -n "$usage" ] || return 0
    # The value list of an option ("--role lead|co-owner|informed").
    if [[ $prev == -* ]]; then
        local values
        values=$(grep -o -- "$prev [a-z_-]*|[a-z_|-]*" <<<"$usage" | cut -d' ' -f2 | tr '|' ' ')
        if [ -n "$values" ]; then
            COMPREPLY=($(compgen -W "$values" -- "$cur"))
            return 0
        fi
        if grep -q -- "$prev [A-Z]" <<<"$usage"; then
            case $usage in *"$prev FILE"*) COMPREPLY=($(compgen -f -- "$cur")) ;; esac
            return 0
        fi
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(grep -o -- '-\{1,2\}[a-z][a-z-]*' <<<"$usage" | sort -u) --help" -- "$cur"))
        return 0
    fi
    # A positional word list ("accepted|declined|implemented|verified"), else files for FILE.csv.
    local words
    words=$(tr ' ' '\n' <<<"$usage" | grep -v -- '^\[*-' | grep '^[a-z_]*|[a-z_|]*$' | tr '|' ' ')
    if [ -n "$words" ]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    elif [[ $usage == FILE* || $usage == *" FILE"* ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
}
complete -F _redressctl redressctl
