// Command vault builds the real Vault server from its source modules, pinned by
// this module's go.mod, for the development stack and integration tests.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
