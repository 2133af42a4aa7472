# bash completion for shmreg(1): its subcommands, their options, and the
# registry names of the namespace the command line names.
#
# Nothing here lists a command or an option: they come from the shmreg being
# completed, through its --help, and the registries from `shmreg dump` (a
# read of the segment alone, so it works while the broker is down), with the
# --namespace and --socket already typed. So the completion follows the CLI
# it completes, whichever version is installed.

# The items of one section of `CMD... --help` ("Subcommands", "Options",
# "Positionals"), one a line: each item's name, then its value's type if it
# takes one ("--pid UINT"). CLI11 indents an item by two spaces and puts its
# description two or more spaces after it, or on a deeper line.
_shmreg_help_items() {
  local section=$1
  shift
  "$@" --help 2> /dev/null | awk -v want="$section:" '
    $0 == want { on = 1; next }
    /^[A-Za-z][A-Za-z ]*:$/ { on = 0 }
    on && /^  [^ ]/ {
      item = substr($0, 3)
      end = index(item, "  ")
      print (end ? substr(item, 1, end - 1) : item)
    }'
}

# The registries of the namespace: `registry NAME: ...` lines of shmreg dump.
_shmreg_registries() {
  "$@" dump 2> /dev/null | awk '$1 == "registry" { name = $2; sub(/:$/, "", name); print name }'
}

_shmreg() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prog=${COMP_WORDS[0]}
  local -a globals=()
  local i word cmd='' positionals=0 takes_value=''

  # The global options that take a value, and where the subcommand is.
  local global_values
  global_values=$(_shmreg_help_items Options "$prog" | awk 'NF > 1 { n = split($1, o, ","); for (i = 1; i <= n; i++) print o[i] }')
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ $word == -- ]]; then
      # What follows is the command that `register` executes.
      compopt -o bashdefault -o default 2> /dev/null
      COMPREPLY=()
      return 0
    fi
    if [[ -z $cmd ]]; then
      if grep -qxF -- "$word" <<< "$global_values"; then
        globals+=("$word" "${COMP_WORDS[i + 1]}")
        ((i++))
      elif [[ $word == --namespace=* || $word == --socket=* ]]; then
        globals+=("$word")
      elif [[ $word != -* ]]; then
        cmd=$word
        takes_value=$(_shmreg_help_items Options "$prog" "$cmd" | awk 'NF > 1 { n = split($1, o, ","); for (i = 1; i <= n; i++) print o[i] }')
      fi
    elif grep -qxF -- "$word" <<< "$takes_value"; then
      ((i++))
    elif [[ $word != -* ]]; then
      ((positionals++))
    fi
  done

  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_shmreg_help_items Options "$prog" | awk '{ gsub(",", " ", $1); print $1 }')" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_shmreg_help_items Subcommands "$prog")" -- "$cur")
    fi
    return 0
  fi
  # The value of an option: nothing to offer.
  if ((COMP_CWORD > 1)) && grep -qxF -- "${COMP_WORDS[COMP_CWORD - 1]}" <<< "$takes_value"; then
    COMPREPLY=()
    return 0
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_shmreg_help_items Options "$prog" "$cmd" | awk '{ gsub(",", " ", $1); print $1 }')" -- "$cur")
    return 0
  fi
  # A positional: registry names where the command's help calls it REG;
  # the choices where it lists them ("what TEXT:{status,members}").
  local name item
  item=$(_shmreg_help_items Positionals "$prog" "$cmd" | awk -v n=$((positionals + 1)) 'NR == n')
  name=${item%% *}
  if [[ $name == REG ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_shmreg_registries "$prog" "${globals[@]}")" -- "$cur")
  elif [[ $item =~ :\{([^}]*)\} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${BASH_REMATCH[1]//,/ }" -- "$cur")
  else
    COMPREPLY=()
  fi
  return 0
}
complete -F _shmreg shmreg
