# k2hdkc-trove: lets trove-dashboard launch, grow and shrink k2hdkc clusters, without
# patching it. Install as <openstack_dashboard>/local/enabled/_1799_k2hdkc.py (Debian:
# /usr/lib/python3/dist-packages/openstack_dashboard/local/enabled/ or
# /etc/openstack-dashboard/enabled/) and restart the web server.
#
# trove-dashboard 19 keeps hard-coded allow-lists in
# trove_dashboard/content/databases/db_capability.py (_cluster_capable_datastores,
# _cluster_grow_shrink_capable_datastores) and reads them at call time; Horizon imports
# every file of local/enabled while loading its settings, so extending the tuples here is
# enough. Single instances, backups and configuration groups need nothing else.

# trove-dashboard's own _1740_project_database_clusters_panel.py ships with DISABLED = True,
# so Project > Database > Clusters is missing altogether. This file adds that panel (Horizon
# applies every enabled file in file-name order; a disabled one is skipped).
PANEL = 'database_clusters'
PANEL_DASHBOARD = 'project'
PANEL_GROUP = 'database'
ADD_PANEL = 'trove_dashboard.content.database_clusters.panel.Clusters'

K2HDKC_DATASTORE = 'k2hdkc'
_LISTS = ('_cluster_capable_datastores',
          '_cluster_grow_shrink_capable_datastores')


def _allow_k2hdkc_clusters():
    try:
        from trove_dashboard.content.databases import db_capability
    except ImportError:
        return False  # trove-dashboard not installed: nothing to extend
    for name in _LISTS:
        current = tuple(getattr(db_capability, name, ()))
        if K2HDKC_DATASTORE not in current:
            setattr(db_capability, name, current + (K2HDKC_DATASTORE,))
    return True


_allow_k2hdkc_clusters()
