"""Tests of the Pulumi program (stacks/) under the SDK's mocks, and of the tasks wrapping the CLI."""
