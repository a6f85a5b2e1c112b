"""The shared contract at the bottom of the package: data types, protocols, SMPL-X and token
layouts, the settings loader. Imports nothing else of aios_ros.
"""
