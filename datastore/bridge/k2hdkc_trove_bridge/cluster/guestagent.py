"""Guest RPCs the k2hdkc cluster flow adds to Trove's guest API.

A k2hdkc member joins its ring through K2HR3/chmpx on its own during prepare; the
controller only tells it when the whole cluster is built (cluster_complete) and, on shrink,
asks a leaving member to stop and deregister (stop_db with do_not_start_on_reboot).
"""

from oslo_log import log as logging

from trove.common.strategies.cluster import base
from trove.guestagent import api as guest_api

LOG = logging.getLogger(__name__)


class K2hdkcGuestAgentStrategy(base.BaseGuestAgentStrategy):

    @property
    def guest_client_class(self):
        return K2hdkcGuestAgentAPI


class K2hdkcGuestAgentAPI(guest_api.API):
    """Trove's guest API plus the cluster calls (same RPC version 1.0 wire format)."""

    def cluster_complete(self):
        """Synchronous: the member finishes its prepare (end marker, real status,
        periodic heartbeats). Returns once the guest answered."""
        LOG.debug('Sending cluster_complete to guest %s.', self.id)
        return self._call('cluster_complete', self.agent_high_timeout,
                          version=self.API_BASE_VERSION)

    def leave_cluster(self):
        """stop_db with do_not_start_on_reboot=True: the agent stops chmpx/k2hdkc and
        removes its K2HR3 registration. Trove's own stop_db drops that argument when it
        may send version 1.1, so it is sent here explicitly at 1.0."""
        LOG.debug('Asking guest %s to stop and deregister.', self.id)
        return self._call('stop_db', self.agent_high_timeout,
                          version=self.API_BASE_VERSION,
                          do_not_start_on_reboot=True)
