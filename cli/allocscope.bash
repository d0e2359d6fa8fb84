# SPDX-License-Identifier: MIT
# bash completion for allocscope and allocscoped. Option names are read from the binary's own
# --help (the text the man page is generated from), once per shell and command, so completion
# follows the binary it completes; the lists below are the fallback when it cannot be run.
# Install as .../bash-completion/completions/allocscope (and a link named allocscoped), or
# `source` it.

_allocscope_commands="record top timeline diff explain snapshot"

# Long options of "$@ --help": lines that start with an option, and the options they name.
_allocscope_help_opts()
{
	"$@" --help 2>/dev/null |
		sed -n 's/^ \{1,\}\(-[A-Za-z0-9], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p' |
		sort -u | tr '\n' ' '
}

# Options of one command, cached: _allocscope_opts BINARY KEY [SUBCOMMAND]
_allocscope_opts()
{
	local bin=$1 key=$2 var opts
	shift 2
	var="_allocscope_cache_${key//[^a-z]/_}"
	if [[ -z ${!var+set} ]]; then
		opts=""
		if type -P "$bin" >/dev/null 2>&1 || [[ -x $bin ]]; then
			opts=$(_allocscope_help_opts "$bin" "$@")
		fi
		if [[ -z $opts ]]; then
			case $key in
			record)
				opts="--pid --duration --rate --output --mode --timeline
				      --timeline-interval --go-set-rate --go-every-call --verbose
				      --max-stacks --max-live --max-overhead --unwind --stack-copy --wrapper
				      --no-uprobe-session --preload-sampler"
				;;
			top)
				opts="--pid --exe --comm --interval --daemon --standalone --sort
				      --iterations --sites --json --rate --max-overhead --unwind --wrapper
				      --no-uprobe-session --verbose"
				;;
			timeline) opts="--pid --since --svg --json --daemon --file --width --rows --ascii" ;;
			diff) opts="--sample-index --by --top --json --verbose" ;;
			explain) opts="--escape-log --top --json --verbose" ;;
			snapshot) opts="--pid --list --get --output --daemon --auth-token-file" ;;
			allocscoped)
				opts="--pid --exe --comm --cgroup --all-go --config --interval --retention
				      --max-history-entries --max-exited --listen --auth-token-file --insecure --tls-cert
				      --tls-key --rate --mode --go-every-call --max-stacks --max-live --max-overhead --push
				      --snapshot-on --snapshot-dir --max-snapshots --snapshot-max-age
				      --snapshot-max-bytes --snapshot-cooldown --snapshot-psi
				      --snapshot-limit-ratio --snapshot-growth --snapshot-growth-window
				      --snapshot-growth-min --unwind --stack-copy --wrapper --no-uprobe-session
				      --verbose"
				;;
			esac
		fi
		[[ " $opts " == *" --help "* ]] || opts="$opts --help"
		printf -v "$var" '%s' "$opts"
	fi
	printf '%s' "${!var}"
}

# Completes the value of option $1 (the word before the cursor) of command $3. Returns 1 when
# $1 takes no value.
_allocscope_value()
{
	local opt=$1 cur=$2
	# Short options that mean different things in different commands.
	case "$3 $1" in
	"record -d") opt=--duration ;;
	"top -s") opt=--sort ;;
	esac
	case $opt in
	-p | --pid)
		mapfile -t COMPREPLY < <(compgen -W "$(cd /proc && printf '%s ' [0-9]*)" -- "$cur")
		;;
	-o | --output | -t | --timeline | --svg | -f | --file | --config | --escape-log | \
		--auth-token-file | --tls-cert | --tls-key | -e | --exe)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	-g | --cgroup)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "${cur:-/sys/fs/cgroup/}")
		;;
	-c | --comm)
		mapfile -t COMPREPLY < <(compgen -W "$(cat /proc/[0-9]*/comm 2>/dev/null | sort -u)" -- "$cur")
		;;
	-m | --mode)
		mapfile -t COMPREPLY < <(compgen -W "auto go malloc both" -- "$cur")
		;;
	--sort)
		mapfile -t COMPREPLY < <(compgen -W "bytes objects inuse" -- "$cur")
		;;
	--by)
		mapfile -t COMPREPLY < <(compgen -W "site function" -- "$cur")
		;;
	--sample-index)
		mapfile -t COMPREPLY < <(compgen -W "alloc_space alloc_objects inuse_space
						     inuse_objects" -- "$cur")
		;;
	-d | --daemon | --push)
		mapfile -t COMPREPLY < <(compgen -W "http://127.0.0.1:6464" -- "$cur")
		;;
	-s | --since)
		mapfile -t COMPREPLY < <(compgen -W "30s 1m 5m 15m 1h" -- "$cur")
		;;
	--max-overhead)
		mapfile -t COMPREPLY < <(compgen -W "1 3 5 off" -- "$cur")
		;;
	-l | --listen)
		mapfile -t COMPREPLY < <(compgen -W "127.0.0.1:6464 0.0.0.0:6464" -- "$cur")
		;;
	-u | --unwind)
		mapfile -t COMPREPLY < <(compgen -W "auto cfi fp" -- "$cur")
		;;
	-r | --rate | --go-set-rate | --duration | --timeline-interval | -i | --interval | \
		--max-stacks | --max-live | -w | --width | --rows | --top | -n | --iterations | \
		--sites | --retention | --max-history-entries | --max-exited)
		COMPREPLY=() # a number: nothing to offer
		;;
	*)
		return 1
		;;
	esac
	return 0
}

_allocscope()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev="" bin=${COMP_WORDS[0]} cmd="" i
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# The subcommand is the first word that is not an option.
	for ((i = 1; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} != -* ]]; then
			cmd=${COMP_WORDS[i]}
			break
		fi
	done
	if [[ -z $cmd ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$_allocscope_commands --help" -- "$cur")
		return 0
	fi
	# record -- COMMAND [ARGS...]: a command, then whatever that command takes (files).
	for ((i = i + 1; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} == -- ]]; then
			if ((i + 1 == COMP_CWORD)); then
				mapfile -t COMPREPLY < <(compgen -c -- "$cur")
			else
				compopt -o filenames 2>/dev/null
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			fi
			return 0
		fi
	done
	_allocscope_value "$prev" "$cur" "$cmd" && return 0
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_allocscope_opts "$bin" "$cmd" "$cmd")" -- "$cur")
		return 0
	fi
	# Positional arguments: profiles for diff and explain, else nothing but options.
	case $cmd in
	diff | explain)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	*)
		mapfile -t COMPREPLY < <(compgen -W "$(_allocscope_opts "$bin" "$cmd" "$cmd")" -- "$cur")
		;;
	esac
	return 0
}

_allocscoped()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=""
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()
	_allocscope_value "$prev" "$cur" allocscoped && return 0
	mapfile -t COMPREPLY < <(compgen -W "$(_allocscope_opts "${COMP_WORDS[0]}" allocscoped)" -- "$cur")
	return 0
}

complete -F _allocscope allocscope
complete -F _allocscoped allocscoped
