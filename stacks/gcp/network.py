"""The stack's VPC: a subnet for Cloud Run's Direct VPC egress and private services access for Cloud SQL."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig

# Google allocates Cloud SQL's private addresses from this peered range (a /16 leaves room to grow).
PEERING_PREFIX_LENGTH = 16


class PrivateNetwork(pulumi.ComponentResource):
    """VPC, regional subnet, peering range and the service networking connection."""

    def __init__(self, name: str, config: CloudConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pgstack:gcp:PrivateNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"pgstack-{config.stack}"
        self.network = gcp.compute.Network(
            "vpc",
            name=prefix,
            project=config.project,
            auto_create_subnetworks=False,
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            "subnet",
            name=f"{prefix}-{config.region}",
            project=config.project,
            region=config.region,
            network=self.network.id,
            ip_cidr_range=config.subnet_cidr,
            private_ip_google_access=True,
            opts=child,
        )
        self.peering_range = gcp.compute.GlobalAddress(
            "private-services-range",
            name=f"{prefix}-private-services",
            project=config.project,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=PEERING_PREFIX_LENGTH,
            network=self.network.id,
            opts=child,
        )
        self.connection = gcp.servicenetworking.Connection(
            "private-services",
            network=self.network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.peering_range.name],
            # Deleting the peering fails while Cloud SQL still holds addresses in it (they are
            # released days after the instance); abandon it on destroy instead of failing there.
            deletion_policy="ABANDON",
            opts=child,
        )
        self.register_outputs(
            {"network": self.network.id, "subnet": self.subnet.id, "peering": self.connection.id}
        )
